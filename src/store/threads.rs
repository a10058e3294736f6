//! Where each deploy's chat thread lives, per platform, and the way back from a thread.

use super::*;

impl Store {
    pub async fn thread(
        &self,
        deploy_id: &str,
        platform: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query(
            "SELECT thread_ref FROM chat_threads WHERE deploy_id = $1 AND platform = $2",
        )
        .bind(deploy_id)
        .bind(platform)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("thread_ref")?),
            None => None,
        })
    }

    pub async fn set_thread(
        &self,
        deploy_id: &str,
        platform: &str,
        thread_ref: &str,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO chat_threads (deploy_id, platform, thread_ref) VALUES ($1, $2, $3)
             ON CONFLICT (deploy_id, platform) DO UPDATE SET thread_ref = excluded.thread_ref",
            vec![
                Arg::Text(deploy_id.to_string()),
                Arg::Text(platform.to_string()),
                Arg::Text(thread_ref.to_string()),
            ],
        )
        .await?;
        Ok(())
    }

    /// The deploy whose thread on `platform` is `thread_ref`.
    pub async fn deploy_by_thread(
        &self,
        platform: &str,
        thread_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query(
            "SELECT deploy_id FROM chat_threads WHERE platform = $1 AND thread_ref = $2",
        )
        .bind(platform)
        .bind(thread_ref)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("deploy_id")?),
            None => None,
        })
    }

    /// The deploy whose thread reference on `platform` ends with `/{last}` (a Discord thread id).
    pub async fn deploy_by_thread_end(
        &self,
        platform: &str,
        last: &str,
    ) -> Result<Option<String>, StoreError> {
        self.deploy_by_thread_like(platform, format!("%/{last}"))
            .await
    }

    /// The deploy whose thread reference on `platform` has `/{middle}/` inside (a root message id).
    pub async fn deploy_by_thread_middle(
        &self,
        platform: &str,
        middle: &str,
    ) -> Result<Option<String>, StoreError> {
        self.deploy_by_thread_like(platform, format!("%/{middle}/%"))
            .await
    }

    async fn deploy_by_thread_like(
        &self,
        platform: &str,
        pattern: String,
    ) -> Result<Option<String>, StoreError> {
        if pattern.len() < 4 || pattern[1..pattern.len() - 1].contains('%') || pattern.contains('_')
        {
            return Ok(None);
        }
        let r = sqlx::query(
            "SELECT deploy_id FROM chat_threads WHERE platform = $1 AND thread_ref LIKE $2",
        )
        .bind(platform)
        .bind(pattern)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("deploy_id")?),
            None => None,
        })
    }
}
