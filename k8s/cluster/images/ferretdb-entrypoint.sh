#!/bin/sh
# Stand-in for the mongo image: accepts mongod's arguments as the chart passes them
# (--bind_ip_all --port N) and runs FerretDB (MongoDB wire protocol on SQLite) instead.
port=27017
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift ;;
  esac
  shift
done
exec /usr/local/bin/ferretdb -listen "0.0.0.0:$port" -dir /data/db -log-level warn
