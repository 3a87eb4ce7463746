"""The interactive prompt: prompt_toolkit's line editor around a Session.

Enter runs what was typed once it is complete (statements ending with `;`, or a
CLI command); otherwise it starts a new line. Esc-Enter always starts a new
line. History persists in ~/.ksql-history (or $KSQL_HISTORY_FILE), Up/Down and
Ctrl-R search it, Tab completes. Ctrl-C clears the line, Ctrl-D or `exit` leaves.
"""

from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, get_common_complete_suffix
from prompt_toolkit.filters import is_searching
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from cli import statements as st
from cli.completion import KsqlCompleter, NameCache
from cli.session import ExitRequested, Session

HISTORY_ENV = "KSQL_HISTORY_FILE"
PROMPT = "ksql> "


def history_path() -> Path:
    return Path(os.environ.get(HISTORY_ENV) or Path.home() / ".ksql-history").expanduser()


def _history(session: Session) -> History:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        return FileHistory(str(path))
    except OSError as err:
        session.console.warning(f"History will not be kept: cannot write {path} ({err.strerror})")
        return InMemoryHistory()


def _key_bindings(completer: Completer) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("tab", filter=~is_searching)
    def _tab(event: KeyPressEvent) -> None:
        """Complete at once (keys typed right after Tab must see the result): a single match is
        inserted, several insert their common part, then a second Tab opens the menu."""
        buffer = event.current_buffer
        if buffer.complete_state is not None:
            buffer.complete_next()
            return
        completions = list(completer.get_completions(buffer.document, CompleteEvent(completion_requested=True)))
        if len(completions) == 1:
            buffer.apply_completion(completions[0])
            return
        common = get_common_complete_suffix(buffer.document, completions) if completions else ""
        if common:
            buffer.insert_text(common)
        elif completions:
            buffer.start_completion(select_first=False)

    @kb.add("enter", filter=~is_searching)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state is not None and buffer.complete_state.current_completion is not None:
            buffer.complete_state = None  # Enter picks the highlighted completion
            return
        if st.is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @kb.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return kb


def _continuation(width: int, line_number: int, is_soft_wrap: bool) -> str:
    return " " * width if is_soft_wrap else ">".rjust(width - 1) + " "


def run_repl(session: Session, cache: NameCache) -> None:
    """Read, run, print until `exit` or Ctrl-D."""
    completer = KsqlCompleter(cache)
    prompt: PromptSession[str] = PromptSession(
        history=_history(session), completer=completer, complete_while_typing=False,
        multiline=True, key_bindings=_key_bindings(completer), prompt_continuation=_continuation,
        enable_history_search=False, search_ignore_case=True)
    session.on_names_changed = cache.invalidate
    session.history = lambda: list(prompt.history.get_strings())
    while True:
        try:
            text = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not text.strip():
            continue
        session.console.to_spool(PROMPT + text)
        try:
            session.run(text)
        except ExitRequested:
            break
        except KeyboardInterrupt:
            session.console.print("Interrupted")
    session.console.print("Exiting ksqlDB.")
