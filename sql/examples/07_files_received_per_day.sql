-- Files received per day (the Asia/Tehran day the pipeline first saw them) and status.
SELECT
    received_on,
    status,
    COUNT(*) AS files,
    SUM(rows_read) AS rows_read,
    SUM(rows_loaded) AS rows_loaded,
    SUM(rows_rejected) AS rows_refused
FROM ingest_file
GROUP BY received_on, status
ORDER BY received_on, status
