-- name: AddTokenUsage :exec
-- AddTokenUsage adds one reply's tokens to the user's day and model.
INSERT INTO token_usage (user_id, day, model, prompt_tokens, completion_tokens, replies)
VALUES (@user_id, @day, @model, @prompt_tokens, @completion_tokens, 1)
ON CONFLICT (user_id, day, model) DO UPDATE
SET prompt_tokens     = token_usage.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = token_usage.completion_tokens + excluded.completion_tokens,
    replies           = token_usage.replies + 1;

-- name: TokensUsedOn :one
-- TokensUsedOn is the user's tokens (prompt and completion) of one day, every model.
SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint FROM token_usage
WHERE user_id = @user_id AND day = @day;

-- name: ListTokenUsage :many
-- ListTokenUsage is the user's usage per day and model between two days (both included).
SELECT * FROM token_usage
WHERE user_id = @user_id AND day BETWEEN @from_day AND @to_day
ORDER BY day, model;
