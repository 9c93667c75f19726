-- Suspected duplicate persons for analysts: pseudonyms instead of national IDs. Read-only.
CREATE VIEW reporting.rpt_suspected_duplicates AS
SELECT
    s.person_pseudonym_l,
    s.person_pseudonym_r,
    s.match_probability,
    s.agreeing_fields,
    s.similar_fields,
    s.province_l,
    s.province_r,
    s.home_province_l,
    s.home_province_r,
    s.live_loan_l,
    s.live_loan_r,
    s.either_live_loan,
    c.person_pseudonym AS cluster_pseudonym
FROM personal.rpt_suspected_duplicates AS s
LEFT JOIN personal.person AS c ON c.national_id = s.cluster_id
