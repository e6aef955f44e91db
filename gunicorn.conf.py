"""gunicorn for payhub's web processes: `gunicorn -c gunicorn.conf.py --paste production.ini`.

Every value can be changed from the environment (PAYHUB_BIND, PAYHUB_WEB_WORKERS,
PAYHUB_WEB_THREADS, PAYHUB_WEB_TIMEOUT) without editing this file.
"""

import os

# Behind nginx on the same machine: loopback. Behind a load balancer on other machines: the
# private address (PAYHUB_BIND=10.0.0.5:6543), never a public one.
bind = os.environ.get("PAYHUB_BIND", "127.0.0.1:6543").split(",")
# Processes x threads: the SOAP station answers in tens of milliseconds; threads wait on
# PostgreSQL. Each process holds its own database pool (payhub.db_pool_size + max_overflow).
workers = int(os.environ.get("PAYHUB_WEB_WORKERS", "2"))
threads = int(os.environ.get("PAYHUB_WEB_THREADS", "8"))
worker_class = "gthread"
# The app starts threads (SLA recorder, pools) when it is built: build it in each worker after
# the fork, never in the master.
preload_app = False
# The Node waits at most a few seconds; nothing legitimate takes 30.
timeout = int(os.environ.get("PAYHUB_WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# A worker is replaced after this many requests (bounded memory growth), staggered.
max_requests = 20000
max_requests_jitter = 2000
# X-Forwarded-Proto is trusted from the proxy in front (nginx on this machine by default).
forwarded_allow_ips = os.environ.get("PAYHUB_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Logs: payhub logs JSON itself (payhub.log_format); gunicorn's access log adds little.
accesslog = None
errorlog = "-"
proc_name = "payhub-web"
