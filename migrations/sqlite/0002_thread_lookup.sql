-- Mentions in a chat thread name their deploy by the thread reference.
CREATE INDEX chat_threads_by_ref ON chat_threads (platform, thread_ref);
