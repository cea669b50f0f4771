"""The service's rules. Pure: no I/O and no framework (the import contracts refuse
litestar, pymongo, redis, httpx, influxdb_client and the kit's I/O here)."""
