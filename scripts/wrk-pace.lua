-- wrk script: each connection waits 8 ms between requests, so `wrk -c4` offers about
-- 500 requests/s (4 connections / 8 ms) instead of as many as the server can take.
function delay()
  return 8
end
