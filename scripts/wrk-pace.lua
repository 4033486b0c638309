-- wrk script: each connection waits 7 ms between requests, so `wrk -c4` offers a little
-- over 500 requests/s (4 connections / (7 ms + the answer's time)) instead of as many as
-- the server can take. (8 ms offered ~470/s once answers took 0.4 ms.)
function delay()
  return 7
end
