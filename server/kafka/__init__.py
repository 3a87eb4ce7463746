"""The Kafka protocol on the embedded log: `ksql-server` is also a Kafka broker.

One node (id 0) serves every partition of the embedded log to Kafka clients.
`listener` accepts connections and frames requests, `dispatch` maps an API key to
the module that handles it (each handler module registers itself), and the
protocol's structs are kafka-python's (`kafka.protocol`), generated from Kafka's
own message schemas; `records` reads and writes v2 record batches.
"""
