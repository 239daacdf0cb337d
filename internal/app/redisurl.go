package app

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// connect opens the Redis that url names:
//
//	redis://[user:password@]host:port[/db]            one server (rediss:// for TLS)
//	redis-sentinel://[user:password@]host:port,host:port/master[/db]   a Sentinel-watched primary
//	redis-cluster://[user:password@]host:port,host:port,…             a Redis Cluster (any of its nodes)
//
// It also returns a description for the log, without the password.
func connect(raw string) (redis.UniversalClient, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", fmt.Errorf("REDIS_URL: write redis://host:port/db, redis-sentinel://host:port,…/master or redis-cluster://host:port,…")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		opt, err := redis.ParseURL(raw)
		if err != nil {
			// Not err: it quotes the URL, password and all.
			return nil, "", fmt.Errorf("REDIS_URL is not a valid %s:// URL: write %s://[user:password@]host:port[/db]", scheme, scheme)
		}
		return redis.NewClient(opt), fmt.Sprintf("%s db %d", opt.Addr, opt.DB), nil
	case "redis-cluster", "redis-sentinel":
	default:
		return nil, "", fmt.Errorf("REDIS_URL: unknown scheme %q: use redis, rediss, redis-sentinel or redis-cluster", scheme)
	}
	// The host list is not a URL host: parse the user and the path by hand.
	var user, password string
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		creds, err := url.PathUnescape(rest[:at])
		if err != nil {
			return nil, "", fmt.Errorf("REDIS_URL: the user and password are not URL-encoded")
		}
		user, password, _ = strings.Cut(creds, ":")
		rest = rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	addrs := strings.Split(hosts, ",")
	for _, a := range addrs {
		if !strings.Contains(a, ":") {
			return nil, "", fmt.Errorf("REDIS_URL: %q is not host:port", a)
		}
	}
	if scheme == "redis-cluster" {
		if path != "" {
			return nil, "", fmt.Errorf("REDIS_URL: a Redis Cluster has only database 0: drop /%s", path)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: user, Password: password}),
			"cluster " + hosts, nil
	}
	master, dbs, _ := strings.Cut(path, "/")
	if master == "" {
		return nil, "", fmt.Errorf("REDIS_URL: name the Sentinel master: redis-sentinel://host:port,…/mymaster")
	}
	db := 0
	if dbs != "" {
		n, err := strconv.Atoi(dbs)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("REDIS_URL: %q is not a database number", dbs)
		}
		db = n
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: addrs, Username: user,
		Password: password, DB: db}), fmt.Sprintf("sentinel %s master %s db %d", hosts, master, db), nil
}
