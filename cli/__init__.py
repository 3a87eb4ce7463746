"""`ksql`: an interactive CLI for a ksqlDB-compatible server, over its REST API only.

cli.main parses the command line; cli.session runs statements (cli.client talks
HTTP, cli.render / cli.tables print entities and rows); cli.repl is the
prompt_toolkit line editor with cli.completion's tab completion.
"""
