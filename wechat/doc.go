// Package wechat is a small, dependency-free client for the WeChat Mini
// Program subscription-message APIs (订阅消息), plus everything a server needs
// around them:
//
//   - [Client]: access tokens from /cgi-bin/stable_token cached in a shared
//     [TokenStore] and refreshed ahead of expiry, [Client.Send], template
//     management (newtmpl) and the quota API. Token errors (40001, 40014,
//     42001) drop the cached token with a compare-and-swap and repeat the call
//     exactly once; nothing else is retried here (that is the caller's policy).
//   - Errors: every errcode becomes an [*Error] with a [Class] and a short
//     explanation in Chinese and English ([Explain]). A request that got no
//     answer is a [*RequestError] that tells "provably never sent"
//     ([ErrNotSent]) from "may have reached WeChat" ([ErrOutcomeUnknown]).
//   - Value rules: [ParseContent] reads a template's content into keywords and
//     [Rules.Check] checks one value against its keyword type.
//   - Message push (消息推送): [Push] verifies signatures, decrypts safe-mode
//     bodies, decodes XML and JSON events with all their quirks, and builds
//     signed pushes (used by the sandbox).
//
// The package imports nothing but the standard library. It is safe for
// concurrent use unless a type's documentation says otherwise.
package wechat
