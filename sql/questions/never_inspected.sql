-- Services with no inspection published by the as-of date, with their rank.
-- "No inspection" means none in the inspection records read, which begin at
-- inspection_records_begin (the earliest published date among them): a list
-- that starts late cannot tell a service never inspected from one inspected
-- before it. The HMI Probation scrape starts in March 2021, so on it a service
-- listed here may well have been inspected before 2021.
SELECT p.rank, p.yjs_name, p.region, p.recommendation, p.population_10_17,
       (SELECT min(published) FROM inspections) AS inspection_records_begin
FROM service_profile AS p
WHERE NOT EXISTS (SELECT 1 FROM inspections AS i WHERE i.yjs_id = p.yjs_id)
ORDER BY p.rank
