-- Training enrolments for analysts: no national ID or names; the trainee is
-- followed by person_pseudonym. Read-only.
CREATE VIEW reporting.training_enrollment AS
SELECT
    province_code,
    enrollment_key,
    enrollment_id,
    person_pseudonym,
    course_title,
    course_type,
    provider,
    hours,
    start_date,
    start_date_jalali_year,
    start_date_jalali_month,
    end_date,
    end_date_jalali_year,
    end_date_jalali_month,
    completed,
    file_id,
    file_seq,
    line_number
FROM personal.training_enrollment
