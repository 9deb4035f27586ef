-- The 15 services inspected longest ago, with their last rating and rank.
SELECT yjs_name, last_inspected, last_inspection_type, last_rating,
       months_since_inspection, rank, recommendation
FROM service_profile
WHERE last_inspected IS NOT NULL
ORDER BY last_inspected
LIMIT 15
