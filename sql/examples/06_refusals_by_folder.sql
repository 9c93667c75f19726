-- Refusals per sending folder: distinct refused rows and files refused whole.
-- (rpt_quarantine_summary gives the same per reason; there a row with two
-- reasons counts under each, so its "rows" must not be summed across reasons.)
SELECT
    province_code,
    source,
    COUNT(*) AS files_received,
    SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) AS files_refused,
    SUM(rows_read) AS rows_read,
    SUM(rows_rejected) AS rows_refused
FROM ingest_file
GROUP BY province_code, source
HAVING SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) > 0 OR SUM(rows_rejected) > 0
ORDER BY province_code, source
