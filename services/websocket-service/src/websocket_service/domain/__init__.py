"""The service's rules. Pure: no I/O and no framework (the import contracts refuse
litestar, socketio, redis and the kit's I/O here)."""
