-- People registered in more than one province, one row per registration.
SELECT
    r.person_pseudonym,
    p.home_province_code,
    r.province_code,
    r.application_id,
    r.registered_at,
    r.registered_at_jalali_year,
    r.supporter_id,
    p.live_loans,
    p.loan_only
FROM registration AS r
JOIN person AS p ON p.person_pseudonym = r.person_pseudonym
WHERE r.person_pseudonym IN (
    SELECT person_pseudonym
    FROM registration
    GROUP BY person_pseudonym
    HAVING COUNT(DISTINCT province_code) > 1
)
ORDER BY r.person_pseudonym, r.registered_at, r.province_code
