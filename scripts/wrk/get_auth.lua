-- A GET with the bearer token from the environment (for /feed and /users/me).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
