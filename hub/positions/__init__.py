"""Debt positions: what the Ente expects to be paid.

``writer``: the one writer of positions: validated input in, rows and notice numbers out;
publishing, changing and cancelling. ``status``: a position's status from its options'.
``iuv``: notice numbers handed out per Ente. ``bulk``: bulk loads (CSV, JSON) checked row by
row and loaded chunk by chunk. ``demand``: positions the Node asks for (paDemandPaymentNotice).
"""
