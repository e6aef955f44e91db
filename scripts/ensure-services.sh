#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the test suite: start them where they
# are installed but stopped; otherwise fail and say what to install.
set -u
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 1; done; return 1; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/ >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    for v in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
    wait_for pg_up || { echo "PostgreSQL did not come up on $PGHOST:$PGPORT" >&2; exit 1; }
  else
    echo "PostgreSQL is not running on $PGHOST:$PGPORT and is not installed here." >&2
    echo "Install it (Debian: apt-get install postgresql) or point PAYHUB_TEST_PG at a server." >&2
    exit 1
  fi
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /tmp --logfile /tmp/payhub-redis.log
    wait_for redis_up || { echo "Redis did not come up on 127.0.0.1:$REDIS_PORT" >&2; exit 1; }
  else
    echo "Redis is not running on 127.0.0.1:$REDIS_PORT and is not installed here." >&2
    echo "Install it (Debian: apt-get install redis-server)." >&2
    exit 1
  fi
fi
echo "PostgreSQL and Redis answer on 127.0.0.1"
