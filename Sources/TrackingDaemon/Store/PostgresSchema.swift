// PostgresSchema: the job database's versioned migrations (`samtrack_migrations`), applied at
// start-up under an advisory lock so that nodes starting together apply each version once; a
// database newer than this build is refused. The tables are listed in PostgresJobStore.swift.

import Foundation
import NIOCore
import PostgresNIO
import TrackingRun

extension PostgresJobStore {
    /// Each entry: version, name, statements (run in one transaction with the version's row).
    static let migrations: [(version: Int, name: String, statements: [String])] = [
        (1, "jobs", [
            """
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                seq BIGSERIAL NOT NULL UNIQUE,
                spec TEXT NOT NULL,
                status TEXT NOT NULL,
                output_directory TEXT NOT NULL,
                live BOOLEAN NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                frames_done BIGINT NOT NULL DEFAULT 0,
                total_frames BIGINT,
                dropped_frames BIGINT NOT NULL DEFAULT 0,
                fps DOUBLE PRECISION,
                error_code TEXT,
                error_message TEXT,
                checkpoint_frame BIGINT,
                resumable BOOLEAN NOT NULL DEFAULT FALSE,
                attempts BIGINT NOT NULL DEFAULT 0,
                crashes BIGINT NOT NULL DEFAULT 0,
                end_reason TEXT,
                quarantined_row TEXT,
                lease_owner TEXT,
                lease_token BIGINT,
                lease_expires TIMESTAMPTZ,
                cancel_requested BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            "CREATE INDEX jobs_status ON jobs (status, seq)",
            """
            CREATE UNIQUE INDEX jobs_output_in_use ON jobs (output_directory)
            WHERE status IN ('queued', 'running') OR (status = 'interrupted' AND resumable)
            """,
            """
            CREATE TABLE applied_prompts (
                job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                seq BIGINT NOT NULL,
                frame BIGINT NOT NULL,
                prompt TEXT NOT NULL,
                PRIMARY KEY (job_id, seq)
            )
            """,
            "CREATE SEQUENCE lease_tokens",
        ]),
        (2, "checkpoints", [
            """
            CREATE TABLE job_checkpoints (
                job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
                frame BIGINT NOT NULL,
                state BYTEA NOT NULL,
                lease_token BIGINT NOT NULL
            )
            """,
        ]),
        (3, "frames", [
            """
            CREATE TABLE job_frames (
                job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                idx BIGINT NOT NULL,
                frame BIGINT NOT NULL,
                line TEXT NOT NULL,
                prompted TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (job_id, idx)
            )
            """,
            """
            CREATE TABLE prompt_requests (
                id BIGSERIAL PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                prompts TEXT NOT NULL,
                taken BOOLEAN NOT NULL DEFAULT FALSE,
                outcome TEXT,
                applied_frame BIGINT,
                error_code TEXT,
                error_message TEXT,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX prompt_requests_pending ON prompt_requests (job_id) WHERE NOT taken",
        ]),
    ]

    /// Applies the missing migrations under the advisory lock; true when version 1 was applied now.
    static func migrate(_ connector: PostgresConnector) throws -> Bool {
        try connector.withConnection(retries: 0) { connection in
            try connector.run(connection, "SELECT pg_advisory_lock(\(migrationLockKey))")
            defer { _ = try? connector.run(connection, "SELECT pg_advisory_unlock(\(migrationLockKey))") }
            try connector.run(connection, """
                CREATE TABLE IF NOT EXISTS samtrack_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """)
            let rows = try connector.run(connection, "SELECT version FROM samtrack_migrations")
            var applied = Set<Int>()
            for row in rows { applied.insert(try row.decode(Int.self)) }
            let known = Set(migrations.map(\.version))
            if let newer = applied.subtracting(known).max() {
                throw JobStoreError("the job database has schema version \(newer), newer than this samtrackd knows "
                                    + "(\(known.max() ?? 0)): upgrade this node")
            }
            var createdNow = false
            for migration in migrations where !applied.contains(migration.version) {
                try connector.run(connection, "BEGIN")
                do {
                    for statement in migration.statements { try connector.run(connection, PostgresQuery(unsafeSQL: statement)) }
                    try connector.run(connection, "INSERT INTO samtrack_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                    try connector.run(connection, "COMMIT")
                } catch {
                    _ = try? connector.run(connection, "ROLLBACK")
                    throw JobStoreError("migration \(migration.version) (\(migration.name)) failed: \(error)")
                }
                if migration.version == 1 { createdNow = true }
            }
            return createdNow
        }
    }

    /// Migration versions recorded in the database, in order (for tests and diagnostics).
    public func appliedMigrations() throws -> [Int] {
        try access { try connector.withConnection { c in
            try connector.run(c, "SELECT version FROM samtrack_migrations ORDER BY version").map { try $0.decode(Int.self) }
        } }
    }
}
