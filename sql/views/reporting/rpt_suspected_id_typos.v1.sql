-- Refused rows that probably belong to a known person, for analysts: no ID as sent. Read-only.
CREATE VIEW reporting.rpt_suspected_id_typos AS
SELECT
    province_code,
    source,
    file_name,
    line_number,
    likely_person_pseudonym,
    match_probability,
    agreeing_fields,
    similar_fields
FROM personal.rpt_suspected_id_typos
