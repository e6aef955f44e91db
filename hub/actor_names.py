"""Every actor's name, defined once: the actors are declared with these names (actors/,
sla_monitor/actors.py) and the outbox writers (hub.outbox.enqueue) and the scheduler
(actors/scheduler.py) send messages to them by these names, so the two sides cannot drift."""

from __future__ import annotations

# debt positions and payments
RUN_BULK_LOAD = "run_bulk_load"
PUBLISH_BULK_LOAD = "publish_bulk_load"
CANCEL_BULK_LOAD = "cancel_bulk_load"
PAYMENT_STATUS_CHANGED = "payment_status_changed"
EXPIRE_OVERDUE_OPTIONS = "expire_overdue_options"
EXPIRE_LAPSED_ACTIVATIONS = "expire_lapsed_activations"
# GPD-compatible API (issue 20): validity dates reached
PUBLISH_DUE_GPD_POSITIONS = "publish_due_gpd_positions"
# ACA feed (issue 20)
ACA_SWEEP = "aca_sweep"
ACA_SYNC_POSITION = "aca_sync_position"
ACA_BULK_UPLOAD = "aca_bulk_upload"
# notifications and printing
DELIVER_WEBHOOK = "deliver_webhook"
RENDER_NOTICE_BATCH = "render_notice_batch"
# reconciliation
POLL_REPORTING_FLOWS = "poll_reporting_flows"
FETCH_REPORTING_FLOW = "fetch_reporting_flow"
FETCH_FDR3_FLOW = "fetch_fdr3_flow"
RECOVER_RECEIPTS = "recover_receipts"
CHECK_FLOWS_WITHOUT_CREDIT = "check_flows_without_credit"
# the SLA monitor
SLA_EVALUATE_BREACHES = "sla_evaluate_breaches"
SLA_PROBE_STATION = "sla_probe_station"
# activation requests (issue 15): the referente's confirmation link by e-mail
SEND_ACTIVATION_LINK = "send_activation_link"
# the daily file (issue 18)
BUILD_DAILY_FILES = "build_daily_files"
DELIVER_DAILY_FILE = "deliver_daily_file"
# the SLA contract (issue 19): its e-mail queue and the alerts
SLA_SEND_MAIL = "sla_send_mail"
SLA_EVALUATE_ALERTS = "sla_evaluate_alerts"
SLA_PRUNE = "sla_prune"  # probes and per-minute rows past payhub.sla_retention_days
