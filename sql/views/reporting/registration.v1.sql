-- Registrations for analysts: no national ID, names, father's name, birth day or
-- mobile; the person is followed by person_pseudonym. Read-only.
CREATE VIEW reporting.registration AS
SELECT
    province_code,
    application_key,
    application_id,
    person_pseudonym,
    gender,
    birth_date_jalali_year,
    county,
    business_category,
    registered_at,
    registered_at_jalali_year,
    registered_at_jalali_month,
    supporter_id,
    file_id,
    file_seq,
    line_number
FROM personal.registration
