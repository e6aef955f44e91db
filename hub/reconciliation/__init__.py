"""Reconciliation: receipts, pagoPA's reporting flows and the Ente's bank credits matched.

``flows``: reporting flows (FdR) read strictly, stored once per version, matched to receipts.
``statements``: bank statements (CSV, camt.053) read and matched to flows by their
/PUR/LGPE-RIVERSAMENTO/URI/ reference; anomalies for what does not match.
"""
