#!/usr/bin/env bash
# A private MariaDB for the 1M-contact bench: the same mariadbd binary as the shared server, with
# its defaults (innodb_flush_log_at_trx_commit=1, doublewrite, O_DIRECT) except a buffer pool that
# holds the bench data set (19.2 GB of tables and indexes at 1.1M contacts after migration 011)
# and a 1 GB redo log. The shared server on :3306 has a 128 MB
# buffer pool; see bench/RESULTS.md for why that cannot hold 1M contacts' working set.
#
#   bench/mariadb.sh start   # datadir $DIR (default /tmp/contacts-bench-mdb), port $PORT (3407)
#   bench/mariadb.sh stop
#   bench/mariadb.sh pool 128M   # resize the buffer pool online (to reproduce the shared server's)
#   bench/mariadb.sh warm [DB]   # read every index of DB (contacts_bench) into the buffer pool
set -euo pipefail
DIR=${DIR:-/tmp/contacts-bench-mdb}
PORT=${PORT:-3407}
POOL=${POOL:-19G}
SOCK=$DIR/mysqld.sock
cli() { mariadb --no-defaults --socket="$SOCK" -uroot "$@"; }

case "${1:-}" in
  start)
    mkdir -p "$DIR"
    if [ ! -d "$DIR/data/mysql" ]; then
      mariadb-install-db --no-defaults --datadir="$DIR/data" --user=root --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve >"$DIR/install.log" 2>&1
      fresh=1
    fi
    setsid mariadbd --no-defaults --datadir="$DIR/data" --socket="$SOCK" --pid-file="$DIR/mysqld.pid" --port="$PORT" \
      --bind-address=127.0.0.1 --user=root --skip-name-resolve --skip-log-bin \
      --innodb-buffer-pool-size="$POOL" --innodb-log-file-size=1G --max-connections=200 \
      --log-error="$DIR/error.log" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 300); do
      mariadb-admin --no-defaults --socket="$SOCK" -uroot ping >/dev/null 2>&1 && break
      sleep 0.2
    done
    if [ "${fresh:-0}" = 1 ]; then
      cli -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    fi
    echo "mariadbd pid $(cat "$DIR/mysqld.pid") on 127.0.0.1:$PORT (DATABASE_URL=mysql://root@127.0.0.1:$PORT/contacts_bench)"
    ;;
  stop)
    mariadb-admin --no-defaults --socket="$SOCK" -uroot shutdown
    ;;
  pool)
    cli -e "SET GLOBAL innodb_buffer_pool_size = ${2:?size}; SELECT @@innodb_buffer_pool_size;"
    ;;
  warm)
    db=${2:-contacts_bench}
    # One full read of every index (the clustered one holds the rows): after a restart, a resize
    # or a migration the timed queries then find their pages in memory, as on a server sized
    # for its data.
    cli -N -e "SELECT DISTINCT CONCAT('SELECT COUNT(*) FROM \`', table_name, '\` FORCE INDEX (\`', index_name, '\`);')
      FROM information_schema.statistics WHERE table_schema = '$db'" | cli "$db" >/dev/null
    cli -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_%'" | grep -E "data|free|total"
    ;;
  *)
    echo "usage: $0 start|stop|pool SIZE|warm [DB]" >&2
    exit 2
    ;;
esac
