-- The history of everything refused. Row-level reasons count rejected rows (a row
-- with two reasons counts under each) with files = 0; file-level reasons count
-- files refused whole with rows = 0. Folder names as sent, '' where missing.
CREATE VIEW rpt_quarantine_summary AS
WITH refused AS (
    SELECT f.province_code, f.source, r.reason, COUNT(*) AS row_count, 0 AS file_count
    FROM rejected_row_reason AS r
    JOIN ingest_file AS f ON f.file_id = r.file_id
    GROUP BY f.province_code, f.source, r.reason
    UNION ALL
    SELECT province_code, source, file_reason AS reason, 0 AS row_count, COUNT(*) AS file_count
    FROM ingest_file
    WHERE status = 'rejected'
    GROUP BY province_code, source, file_reason
)
SELECT
    province_code,
    source,
    reason,
    CAST(SUM(row_count) AS BIGINT) AS "rows",
    CAST(SUM(file_count) AS BIGINT) AS files
FROM refused
GROUP BY province_code, source, reason
