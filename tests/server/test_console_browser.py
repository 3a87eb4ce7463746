"""The web console in a real browser (headless Chromium): run statements from the editor, watch a push
query's rows arrive live, stop it, browse a topic's messages; with Basic auth on too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.harness import ServerProcess, ksql, start_chromium

TIMEOUT = 30


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = start_chromium(tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.1).until(condition)
    except TimeoutException:
        status = driver.execute_script("return document.querySelector('#result-status')?.textContent")
        raise AssertionError(f"timed out waiting for {what}; console status: {status!r}") from None


def run_in_editor(driver: Any, sql: str) -> None:
    """Type the SQL into the editor and press Ctrl+Enter, as a user does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    editor = driver.find_element(By.ID, "sql")
    driver.execute_script("arguments[0].value = ''", editor)
    editor.send_keys(sql)
    editor.send_keys(Keys.ESCAPE)  # close the completion list, if it opened
    editor.send_keys(Keys.CONTROL, Keys.ENTER)


def status(driver: Any) -> str:
    return driver.execute_script("return document.querySelector('#result-status').textContent")


def grid_rows(driver: Any) -> list[list[str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#results table.results-grid tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.textContent))")


def test_statements_a_live_push_query_and_a_topic_s_messages(server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait_for(browser, lambda d: "running" in d.find_element(By.ID, "server-status").text, "the server's status")

    run_in_editor(browser, "CREATE STREAM CLICKS (USER_ID STRING KEY, PAGE STRING, MS INT) WITH ("
                           "KAFKA_TOPIC='clicks', PARTITIONS=1, VALUE_FORMAT='JSON');")
    wait_for(browser, lambda d: "Stream created" in d.find_element(By.ID, "results").text, "CREATE STREAM")
    wait_for(browser, lambda d: "CLICKS" in d.find_element(By.ID, "source-tree").text, "the sidebar's new stream")

    run_in_editor(browser, "INSERT INTO CLICKS (USER_ID, PAGE, MS) VALUES ('u1', '/home', 12);")
    wait_for(browser, lambda d: status(d).startswith("Done"), "the INSERT")

    run_in_editor(browser, "SELECT USER_ID, PAGE, MS FROM CLICKS EMIT CHANGES;")
    wait_for(browser, lambda d: grid_rows(d) == [["u1", "/home", "12"]], "the push query's first row")
    headers = browser.execute_script(
        "return [...document.querySelectorAll('#results thead th')].map(th => th.firstChild.textContent)")
    assert headers == ["USER_ID", "PAGE", "MS"]
    stop = browser.find_element(By.ID, "stop")
    assert stop.is_enabled() and "Streaming" in status(browser)

    with server.client() as client:  # a row written elsewhere arrives in the grid while the query runs
        ksql(client, "INSERT INTO CLICKS (USER_ID, PAGE, MS) VALUES ('u2', '/cart', 40);")
    wait_for(browser, lambda d: grid_rows(d)[-1:] == [["u2", "/cart", "40"]], "the live row")

    stop.click()
    wait_for(browser, lambda d: d.find_element(By.ID, "stop").get_attribute("disabled") is not None
             and d.find_element(By.ID, "result-status").text.startswith("Stopped"), "the stopped query")
    summary = status(browser)
    assert "2 rows" in summary
    query_id = summary[summary.index("(") + 1:summary.index(")")]
    with server.client() as client:  # the console closed it on the server: it is gone
        closed = client.post("/close-query", json={"queryId": query_id})
        assert closed.status_code == 400 and "No query with id" in closed.json()["message"]

    browser.find_element(By.CSS_SELECTOR, "#nav a[data-view=topics]").click()
    wait_for(browser, lambda d: "clicks" in d.find_element(By.ID, "view-topics").text, "the topic list")
    row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#view-topics tbody tr")
               if tr.find_element(By.TAG_NAME, "td").text == "clicks")
    row.click()
    messages = wait_for(browser, lambda d: d.execute_script(
        "const card = document.querySelector('#view-topics .topic-messages');"
        "const grids = card ? card.querySelectorAll('table.grid') : [];"
        "return grids.length === 2 ? [...grids[1].querySelectorAll('tbody tr')]"
        "  .map(tr => [...tr.cells].map(td => td.textContent)) : null"), "the topic's messages")
    assert [(m[0], m[1], m[3], m[4]) for m in messages] == [
        ("0", "0", "u1", '{"PAGE":"/home","MS":12}'), ("0", "1", "u2", '{"PAGE":"/cart","MS":40}')]


def test_completion_offers_the_catalogue_s_names(server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with server.client() as client:
        ksql(client, "CREATE STREAM COMPLETE_ME (ID STRING KEY, AMOUNT_CENTS INT) WITH (KAFKA_TOPIC='complete_me', "
                     "PARTITIONS=1, VALUE_FORMAT='JSON');")
    browser.get(server.url + "/")
    wait_for(browser, lambda d: "COMPLETE_ME" in d.find_element(By.ID, "source-tree").text, "the catalogue")
    editor = browser.find_element(By.ID, "sql")
    editor.send_keys("SELECT * FROM COMPL")
    wait_for(browser, lambda d: "COMPLETE_ME" in d.find_element(By.ID, "completions").text, "a source name")
    editor.send_keys(Keys.TAB)
    editor.send_keys(" WHERE AMOU")
    wait_for(browser, lambda d: "AMOUNT_CENTS" in d.find_element(By.ID, "completions").text, "a column name")
    editor.send_keys(Keys.ENTER)
    assert editor.get_attribute("value") == "SELECT * FROM COMPLETE_ME WHERE AMOUNT_CENTS"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("console-auth") / "data", {
        "ksql.log.fsync": "never", "authentication.method": "BASIC",
        "authentication.basic.users": "alice:wonderland"}).start()
    try:
        yield process
    finally:
        process.kill()


def test_with_basic_auth_the_console_sends_the_credentials_on_every_call(secured: ServerProcess,
                                                                          browser: Any) -> None:
    from selenium.webdriver.common.by import By

    host = secured.url.removeprefix("http://")
    browser.get(f"http://alice:wonderland@{host}/")  # as a user who answered the browser's prompt
    wait_for(browser, lambda d: "running" in d.find_element(By.ID, "server-status").text, "the server's status")
    run_in_editor(browser, "CREATE STREAM GUARDED (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='guarded', "
                           "PARTITIONS=1, VALUE_FORMAT='JSON'); INSERT INTO GUARDED (ID, V) VALUES ('k', 7);")
    wait_for(browser, lambda d: status(d).startswith("Done"), "the statements")
    run_in_editor(browser, "SELECT ID, V FROM GUARDED EMIT CHANGES;")
    wait_for(browser, lambda d: grid_rows(d) == [["k", "7"]], "the push query's row")
    browser.find_element(By.ID, "stop").click()
    wait_for(browser, lambda d: status(d).startswith("Stopped"), "the stopped query")


def test_a_backlog_of_rows_is_drawn_without_freezing_the_page(server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with server.client() as client:
        ksql(client, "CREATE STREAM BACKLOG (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='backlog', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        for start in range(0, 3000, 1000):  # in requests under the server's size limit
            records = [{"key": i, "value": {"V": f"v{i}"}} for i in range(start, start + 1000)]
            assert client.post("/topics/backlog/records", json={"records": records}).status_code == 200
    browser.get(server.url + "/")
    wait_for(browser, lambda d: "BACKLOG" in d.find_element(By.ID, "source-tree").text, "the catalogue")
    run_in_editor(browser, "SELECT ID, V FROM BACKLOG EMIT CHANGES;")
    wait_for(browser, lambda d: d.find_element(By.ID, "row-count").text == "3,000 rows (last 2,000 shown)",
             "every row of the backlog")
    shown = browser.execute_script("return document.querySelectorAll('#results tbody tr').length")
    first = browser.execute_script("return document.querySelector('#results tbody tr').cells[0].textContent")
    assert (shown, first) == (2000, "1000")  # the newest rows stay, the oldest are dropped
    browser.find_element(By.ID, "stop").click()
    wait_for(browser, lambda d: status(d).startswith("Stopped"), "the stopped query")


def test_print_streams_a_topic_s_lines(server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with server.client() as client:
        ksql(client, "CREATE STREAM PRINTED (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='printed', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON'); INSERT INTO PRINTED (ID, V) VALUES ('a', 1);")
    browser.get(server.url + "/")
    wait_for(browser, lambda d: "running" in d.find_element(By.ID, "server-status").text, "the server's status")
    run_in_editor(browser, "PRINT 'printed' FROM BEGINNING LIMIT 1;")
    wait_for(browser, lambda d: status(d) == "Print ended.", "the end of PRINT")
    text = browser.find_element(By.CSS_SELECTOR, "#results pre.text").text
    assert text.splitlines()[:2] == ["Key format: KAFKA_STRING", "Value format: JSON"]
    assert 'key: a, value: {"V":1}, partition: 0' in text


def test_queries_flow_and_schemas_views_show_the_running_queries(server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with server.client() as client:
        ksql(client, "CREATE STREAM FLOW_IN (ID STRING KEY, V INT) WITH (KAFKA_TOPIC='flow_in', PARTITIONS=1, "
                     "VALUE_FORMAT='AVRO'); CREATE STREAM FLOW_OUT AS SELECT * FROM FLOW_IN WHERE V > 0;")
        query_id = next(q["id"] for q in ksql(client, "SHOW QUERIES;")[0]["queries"] if "FLOW_OUT" in q["sinks"])
    browser.get(server.url + "/#flow")
    nodes = wait_for(browser, lambda d: d.execute_script(
        "return [...document.querySelectorAll('#view-flow svg g.node text:first-of-type')].map(t => t.textContent)"),
        "the flow graph")
    assert {"FLOW_IN", query_id, "FLOW_OUT"} <= set(nodes)
    edges = browser.execute_script("return document.querySelectorAll('#view-flow svg path.edge').length")
    assert edges >= 2

    browser.find_element(By.CSS_SELECTOR, "#nav a[data-view=queries]").click()
    wait_for(browser, lambda d: query_id in d.find_element(By.CSS_SELECTOR, "#view-queries table").text,
             "the query list")
    row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#view-queries tbody tr") if query_id in tr.text)
    assert "RUNNING" in row.text and "FLOW_IN → FLOW_OUT" in row.text
    charts = browser.find_elements(By.CSS_SELECTOR, "#view-queries .chart-pair")
    assert any(query_id in c.text and "records/s" in c.text and "lag" in c.text for c in charts)
    row.click()
    wait_for(browser, lambda d: "WHERE (V > 0)" in d.find_element(By.ID, "view-queries").text
             or "WHERE V > 0" in d.find_element(By.ID, "view-queries").text, "the query's details")

    browser.find_element(By.CSS_SELECTOR, "#nav a[data-view=schemas]").click()
    wait_for(browser, lambda d: "FLOW_IN-value" in d.find_element(By.ID, "view-schemas").text
             or "flow_in-value" in d.find_element(By.ID, "view-schemas").text, "the schema subjects")

