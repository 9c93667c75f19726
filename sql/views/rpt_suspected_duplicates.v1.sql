-- Pairs of persons (different national IDs) that are probably one human being, scored by the
-- matching stage at or above its threshold, with the fields that agreed, the provinces, and
-- whether either has a live loan (etl/suspects.py, etl/match.py).
CREATE VIEW rpt_suspected_duplicates AS
SELECT
    s.national_id_l,
    s.national_id_r,
    a.person_pseudonym AS person_pseudonym_l,
    b.person_pseudonym AS person_pseudonym_r,
    s.match_probability,
    s.agreeing_fields,
    s.similar_fields,
    s.province_l,
    s.province_r,
    a.home_province_code AS home_province_l,
    b.home_province_code AS home_province_r,
    a.live_loans > 0 AS live_loan_l,
    b.live_loans > 0 AS live_loan_r,
    a.live_loans > 0 OR b.live_loans > 0 AS either_live_loan,
    s.cluster_id
FROM suspected_duplicate_pair AS s
JOIN person AS a ON a.national_id = s.national_id_l
JOIN person AS b ON b.national_id = s.national_id_r
