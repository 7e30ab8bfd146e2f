#!/usr/bin/env bash
# Fuzz the running API against its own OpenAPI schema (/api/schema/), as an operator and as an
# engineer, with every schemathesis check: any 5xx or response that breaks the schema fails.
# A fresh PostgreSQL database with the catalog and the demo; DEBUG off (production settings).
# One worker: under two, CPython 3.11's ast.parse (hypothesis describing a filter) can fail
# with "AST constructor recursion depth mismatch", an error of the fuzzer, not of the API.
# Bounded: SCHEMATHESIS_EXAMPLES cases per operation, SCHEMATHESIS_SECONDS per role.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
DB=${SCHEMATHESIS_DB:-celltrace_schemathesis}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-25}
SECONDS_PER_ROLE=${SCHEMATHESIS_SECONDS:-90}
PGHOST=127.0.0.1
WORK=$(mktemp -d)
PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

export DJANGO_SETTINGS_MODULE=config.settings.production
export DJANGO_SECRET_KEY=schemathesis-only-not-secret
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export DJANGO_SECURE_SSL_REDIRECT=false
export DATABASE_URL=postgres://postgres@$PGHOST:5432/$DB
export DJANGO_MEDIA_ROOT=$WORK/media
export DJANGO_STATIC_ROOT=$WORK/static
export CELLTRACE_EXPORT_WORK_DIR=$WORK/exports
export CELERY_TASK_ALWAYS_EAGER=true
export DJANGO_LOG_LEVEL=${DJANGO_LOG_LEVEL:-WARNING}

SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    dropdb -h $PGHOST -U postgres --if-exists "$DB" || true
    rm -rf "$WORK"
}
trap cleanup EXIT

dropdb -h $PGHOST -U postgres --if-exists "$DB"
createdb -h $PGHOST -U postgres "$DB"
"$BIN/python" manage.py migrate --noinput -v0
"$BIN/python" manage.py load_catalog >/dev/null
"$BIN/python" manage.py load_demo >/dev/null
"$BIN/python" manage.py collectstatic --noinput -v0
OPERATOR=$("$BIN/python" manage.py create_api_user fuzz-operator --role operator | tail -n1)
ENGINEER=$("$BIN/python" manage.py create_api_user fuzz-engineer --role engineer | tail -n1)

# The way it is deployed: gunicorn with its settings file, DEBUG off; on a free port, 2 workers.
"$BIN/gunicorn" -c config/gunicorn.py --bind "127.0.0.1:$PORT" --workers 2 config.wsgi >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 60); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/api/health/" && break
    sleep 0.5
done

status=0
for role in operator engineer; do
    token=$OPERATOR
    [ "$role" = engineer ] && token=$ENGINEER
    echo "== schemathesis as $role"
    "$BIN/schemathesis" run "http://127.0.0.1:$PORT/api/schema/" \
        --checks all \
        -H "Authorization: Token $token" \
        --max-examples "$EXAMPLES" \
        --max-time "$SECONDS_PER_ROLE" \
        --seed "${SCHEMATHESIS_SEED:-1}" \
        --generation-database none \
        --workers 1 \
        --no-color \
        ${SCHEMATHESIS_ARGS:-} || status=1
done
if [ $status -ne 0 ] && grep -q Traceback "$WORK/server.log"; then
    echo "== server tracebacks"
    grep -B2 -A40 Traceback "$WORK/server.log" | tail -n 200
fi
exit $status
