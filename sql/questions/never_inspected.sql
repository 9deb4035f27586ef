-- Services with no inspection published by the as-of date, with their rank.
SELECT p.rank, p.yjs_name, p.region, p.recommendation, p.population_10_17
FROM service_profile AS p
WHERE NOT EXISTS (SELECT 1 FROM inspections AS i WHERE i.yjs_id = p.yjs_id)
ORDER BY p.rank
