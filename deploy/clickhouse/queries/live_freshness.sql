-- The live view's freshness (streams/live/snapshot.py): when the newest entry and rejection were
-- loaded and how long ago, the newest work date and submission, and the ingest lag (submitted_at to
-- loaded_at, the largest of the last hour of loading: deploy/clickhouse/schema/005_analytics_views.sql,
-- data_freshness). NULL while nothing is loaded (the view's maxima are then the epoch).
SELECT
    nullIf(latest_entry_loaded_at, toDateTime64(0, 3, 'UTC'))                            AS newest_entry_loaded_at,
    if(latest_entry_loaded_at = toDateTime64(0, 3, 'UTC'), NULL,
       round(greatest(0, dateDiff('millisecond', latest_entry_loaded_at, now64(3))) / 1000, 1)) AS newest_entry_age_seconds,
    nullIf(latest_rejection_loaded_at, toDateTime64(0, 3, 'UTC'))                        AS newest_rejection_loaded_at,
    nullIf(latest_work_date, toDate(0))                                                  AS latest_work_date,
    nullIf(latest_submitted_at, toDateTime64(0, 3, 'UTC'))                               AS latest_submitted_at,
    if(latest_entry_loaded_at = toDateTime64(0, 3, 'UTC'), NULL, round(ingest_lag_seconds, 1)) AS ingest_lag_seconds
FROM data_freshness
