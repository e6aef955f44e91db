"""The SLA contract (issue 19), shared by the web pages (web.ops.sla, /status), the actors and
the CLI: availability from the probes (``availability``), the help desk (``helpdesk``, the
machine in workflows.ticket), planned maintenance (``maintenance``), reconciliation anomalies
watched (``anomalies``), the verdicts (``contract``), the four-month report with charts and PDF
(``contract_report``), the mail queue (``mailer``), alerts (``alerts``) and the periods
(``periods``). The probes and the answer-time recorder stay in sla_monitor/; the sums they
and the pruning (``retention``) add to the per-minute rows are ``minute_rows``.
"""
