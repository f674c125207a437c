-- okcc-core: web-login hashes and SIP digest credentials (PostgreSQL).
-- Keys use the "C" collation so listings page in byte order on every node.
CREATE TABLE core_web_logins (
    user_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    phc     TEXT NOT NULL                 -- argon2id PHC string
);

-- One row per (realm, user): the HA1 of each digest algorithm, lower-case hex.
CREATE TABLE core_sip_credentials (
    realm      TEXT COLLATE "C" NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    md5        TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    sha512_256 TEXT NOT NULL,
    PRIMARY KEY (realm, user_name)
);
