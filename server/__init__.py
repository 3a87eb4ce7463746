"""The ksqlDB-compatible server: ksqlDB's REST API, Server-Sent-Events push queries, durable restarts.

`ksql-server` (server.main) starts it; server.app holds the endpoints and
server.core the engine, the command log and the runner thread behind them.
"""
