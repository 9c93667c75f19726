-- Rows refused only for an invalid national ID whose other fields name a known person: the ID
-- was probably mistyped. The clerk can correct it and send the row again.
CREATE VIEW rpt_suspected_id_typos AS
SELECT
    t.province_code,
    t.source,
    f.file_name,
    t.line_number,
    t.national_id_sent,
    t.national_id AS likely_national_id,
    p.person_pseudonym AS likely_person_pseudonym,
    t.match_probability,
    t.agreeing_fields,
    t.similar_fields,
    t.id_fix
FROM suspected_id_typo AS t
JOIN ingest_file AS f ON f.file_id = t.file_id
LEFT JOIN person AS p ON p.national_id = t.national_id
