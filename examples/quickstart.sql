-- A stream of page views, a filtered stream derived from it, and a look at the result.
SET 'auto.offset.reset'='earliest';

CREATE STREAM pageviews (user_id STRING KEY, page STRING, duration_ms INT)
  WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=1);

INSERT INTO pageviews (user_id, page, duration_ms) VALUES ('alice', '/home', 1200);
INSERT INTO pageviews (user_id, page, duration_ms) VALUES ('bob', '/pricing', 300);
INSERT INTO pageviews (user_id, page, duration_ms) VALUES ('carol', '/docs', 5400);

CREATE STREAM long_views AS
  SELECT user_id, UCASE(page) AS page, duration_ms / 1000 AS secs
  FROM pageviews
  WHERE duration_ms >= 1000;

PRINT 'LONG_VIEWS' FROM BEGINNING LIMIT 2;
