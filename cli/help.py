"""The text `help` prints: the CLI's own commands, then what it does with SQL."""

HELP = """\
Description:
\tThe ksql CLI is an interactive shell for a ksqlDB-compatible server. Statements end
\twith a semicolon and may span several lines; several statements may share a line.

CLI commands (no semicolon needed):
  help                  Show this message.
  output                Show the current output format.
  output <format>       Set the output format: TABULAR or JSON (e.g. "output JSON").
  server                Show the address of the server the CLI talks to.
  server <url>          Talk to another server from now on (e.g. "server http://host:8088").
  spool <file>          Copy what is typed and printed from now on to the file.
  spool off             Stop copying to the spool file.
  history               Show the lines entered so far.
  request-pipelining    Show whether request pipelining is on (OFF by default).
  request-pipelining <on|off>
                        ON sends each statement without waiting for the server to have run
                        the previous ones; OFF makes the server run them in order.
  version               Show the CLI and server versions.
  clear                 Clear the terminal.
  exit, quit, Ctrl-D    Leave the CLI.

Statements handled by the CLI (held for this session, sent with every request):
  SET 'property' = 'value';   e.g. SET 'auto.offset.reset' = 'earliest';
  UNSET 'property';
  SHOW PROPERTIES;            the server's properties, with this session's overrides
  DEFINE name = 'value';      a variable, used as ${name} in later statements
  UNDEFINE name;
  SHOW VARIABLES;
  RUN SCRIPT 'file.sql';      run the statements of a local file

Queries:
  SELECT ... FROM table WHERE key = ...;          a pull query: the current rows
  SELECT ... FROM source EMIT CHANGES [LIMIT n];  a push query: rows as they arrive
  PRINT 'topic' [FROM BEGINNING] [LIMIT n];       the records of a topic
  Ctrl-C stops a push query or PRINT and returns to the prompt.

Editing:
  Up/Down walk the history (kept in ~/.ksql-history), Ctrl-R searches it,
  Tab completes keywords and the names of streams, tables, columns, functions,
  queries and topics. Esc then Enter inserts a line break without running.

Everything else (CREATE, DROP, INSERT, SHOW, DESCRIBE, EXPLAIN, TERMINATE ...) is sent
to the server as is."""
