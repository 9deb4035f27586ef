-- The 15 services inspected longest ago, with their last rating and rank.
-- Only services with an inspection on record: those with none (never_inspected)
-- are left out, though they may be the ones inspected longest ago where the
-- inspection records read begin late (inspection_records_begin, the earliest
-- published date among them). The HMI Probation scrape starts in March 2021, so
-- on it a service last inspected before 2021 is not here.
SELECT yjs_name, last_inspected, last_inspection_type, last_rating,
       months_since_inspection, rank, recommendation,
       (SELECT min(published) FROM inspections) AS inspection_records_begin
FROM service_profile
WHERE last_inspected IS NOT NULL
ORDER BY last_inspected
LIMIT 15
