<?php
// Sign in with Banten SSO in plain PHP, without a library: PHP's session, curl and openssl functions only.
// The authorization code flow with PKCE (S256), the ID token's signature and claims checked, UserInfo, sign-out.
// apt-get install php-cli php-curl; then: SSO_CLIENT_SECRET=... php -S 127.0.0.1:PORT index.php
// (in production: behind Apache or nginx with PHP-FPM, over https; this file answers every path).
declare(strict_types=1);

const ISSUER = {{ issuer | php }};
const CLIENT_ID = {{ client_id | php }};
const REDIRECT_URI = {{ redirect_uri | php }}; // sent exactly as registered (OIDC Core 3.1.2.1)
const POST_LOGOUT_REDIRECT_URI = {{ post_logout_redirect_uri | php }}; // register it as a post-logout address
const SCOPE = {{ scope | php }};
const TEXT = [ // Indonesian first; ?lang=en switches to English and asks the provider for it (ui_locales)
    'id' => ['title' => 'Contoh Aplikasi PHP', 'login' => 'Masuk dengan SSO Banten', 'logout' => 'Keluar',
             'signed_in' => 'Anda sudah masuk sebagai', 'failed' => 'Gagal masuk', 'again' => 'Coba lagi',
             'switch' => 'English', 'to' => 'en'],
    'en' => ['title' => 'PHP Example Application', 'login' => 'Sign in with Banten SSO', 'logout' => 'Sign out',
             'signed_in' => 'You are signed in as', 'failed' => 'Sign-in failed', 'again' => 'Try again',
             'switch' => 'Bahasa Indonesia', 'to' => 'id'],
];

function param(string $name, ?array $from = null): ?string
{
    $value = ($from ?? $_GET)[$name] ?? null;
    return is_string($value) ? $value : null; // ?x[]=... gives an array: never trusted as text
}

function e(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function b64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

function unb64url(string $text): string
{
    $bytes = base64_decode(strtr($text, '-_', '+/'), true);
    if ($bytes === false) {
        throw new RuntimeException('invalid base64url');
    }
    return $bytes;
}

function redirect(string $url): never
{
    header('Location: ' . $url, true, 302);
    exit;
}

/** GET (or POST a form to) the provider and decode its JSON answer; curl checks the TLS certificate. */
function http(string $url, array $headers = [], ?array $form = null): array
{
    $curl = curl_init($url);
    curl_setopt_array($curl, [CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 10,
                              CURLOPT_HTTPHEADER => [...$headers, 'Accept: application/json']]);
    if ($form !== null) {
        curl_setopt($curl, CURLOPT_POSTFIELDS, http_build_query($form, '', '&'));
    }
    $body = curl_exec($curl);
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    curl_close($curl);
    $data = is_string($body) ? json_decode($body, true) : null;
    if ($status !== 200 || !is_array($data)) {
        throw new RuntimeException(is_string($data['error'] ?? null) ? $data['error'] : "HTTP $status from $url");
    }
    return $data;
}

/** The provider's metadata (a real application caches it, and the JWKS, for a while: a file or APCu). */
function provider(): array
{
    static $meta = null;
    $meta ??= http(ISSUER . '/.well-known/openid-configuration');
    if (($meta['issuer'] ?? null) !== ISSUER) { // OpenID Connect Discovery 4.3
        throw new RuntimeException('issuer mismatch in discovery');
    }
    return $meta;
}

/** DER: a tag, its length, its contents (X.690); enough to wrap an RSA key. */
function der(int $tag, string $body): string
{
    $length = strlen($body);
    $long = ltrim(pack('N', $length), "\0");
    return chr($tag) . ($length < 0x80 ? chr($length) : chr(0x80 | strlen($long)) . $long) . $body;
}

/** A JWK's RSA public key (n, e) as PEM for openssl: SubjectPublicKeyInfo (RFC 8017 A.1.1, RFC 5280 4.1). */
function rsa_pem(array $jwk): string
{
    $int = function (string $b64): string { // a positive INTEGER in its shortest form (X.690 8.3.2)
        $bytes = ltrim(unb64url($b64), "\0");
        return der(0x02, ($bytes === '' || ord($bytes[0]) > 0x7f ? "\0" : '') . $bytes);
    };
    $key = der(0x30, $int((string) ($jwk['n'] ?? '')) . $int((string) ($jwk['e'] ?? '')));
    $rsa_encryption = der(0x30, der(0x06, "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01") . der(0x05, ''));
    $spki = der(0x30, $rsa_encryption . der(0x03, "\0" . $key)); // BIT STRING: no unused bits
    return "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($spki)) . "-----END PUBLIC KEY-----\n";
}

/** The ID token's claims once its signature and claims pass OpenID Connect Core 3.1.3.7 (else an exception). */
function id_token_claims(string $jwt, string $nonce, string $access_token): array
{
    $parts = explode('.', $jwt);
    if (count($parts) !== 3) {
        throw new RuntimeException('malformed ID token');
    }
    [$head, $body, $signature] = $parts;
    $header = json_decode(unb64url($head), true);
    // Point 7: RS256 is the default algorithm (an application registering another one changes this); never "none".
    if (!is_array($header) || ($header['alg'] ?? null) !== 'RS256') {
        throw new RuntimeException('unexpected ID token algorithm');
    }
    $jwk = null; // point 6: the signature, with the provider's key named by "kid" (fetched now: keys rotate)
    foreach (http(provider()['jwks_uri'])['keys'] ?? [] as $candidate) {
        if (is_array($candidate) && ($candidate['kty'] ?? null) === 'RSA' && ($candidate['use'] ?? 'sig') === 'sig'
                && ($candidate['kid'] ?? null) === ($header['kid'] ?? null)) {
            $jwk = $candidate;
            break;
        }
    }
    $pem = $jwk === null ? null : rsa_pem($jwk);
    if ($pem === null || openssl_verify("$head.$body", unb64url($signature), $pem, OPENSSL_ALGO_SHA256) !== 1) {
        throw new RuntimeException('invalid ID token signature');
    }
    $claims = json_decode(unb64url($body), true);
    $audience = is_array($claims) ? (array) ($claims['aud'] ?? []) : [];
    $now = time();
    $valid = is_array($claims) && is_string($claims['sub'] ?? null)
        && ($claims['iss'] ?? null) === ISSUER                                             // point 2
        && in_array(CLIENT_ID, $audience, true)                                             // point 3
        && (count($audience) === 1 || isset($claims['azp']))                                // point 4
        && ($claims['azp'] ?? CLIENT_ID) === CLIENT_ID                                      // point 5
        && is_int($claims['exp'] ?? null) && $claims['exp'] > $now - 60                     // point 9 (60 s of skew)
        && is_int($claims['iat'] ?? null) && $claims['iat'] < $now + 60 && $claims['iat'] > $now - 600 // point 10
        && is_string($claims['nonce'] ?? null) && hash_equals($nonce, $claims['nonce'])     // point 11
        && (!isset($claims['at_hash']) || (is_string($claims['at_hash'])                   // 3.1.3.8
            && hash_equals(b64url(substr(hash('sha256', $access_token, true), 0, 16)), $claims['at_hash'])));
    if (!$valid) {
        throw new RuntimeException('invalid ID token claims');
    }
    return $claims;
}

function login(string $lang): never
{
    // state (CSRF, RFC 6749 10.12), nonce (replay, OIDC Core 3.1.2.1) and the PKCE verifier (RFC 7636) stay here.
    $pending = ['state' => b64url(random_bytes(32)), 'nonce' => b64url(random_bytes(32)),
                'verifier' => b64url(random_bytes(32))];
    $_SESSION['pending'] = $pending;
    $endpoint = provider()['authorization_endpoint'];
    redirect($endpoint . (str_contains($endpoint, '?') ? '&' : '?') . http_build_query([
        'response_type' => 'code', 'client_id' => CLIENT_ID, 'redirect_uri' => REDIRECT_URI, 'scope' => SCOPE,
        'state' => $pending['state'], 'nonce' => $pending['nonce'], 'code_challenge_method' => 'S256',
        'code_challenge' => b64url(hash('sha256', $pending['verifier'], true)), 'ui_locales' => $lang,
    ], '', '&', PHP_QUERY_RFC3986));
}

function callback(): never
{
    $pending = $_SESSION['pending'] ?? null;
    unset($_SESSION['pending']); // one use: a replayed or forged redirect finds nothing to complete
    if (!is_array($pending) || !hash_equals($pending['state'], param('state') ?? '')) {
        throw new RuntimeException('state mismatch');
    }
    $meta = provider();
    if (!empty($meta['authorization_response_iss_parameter_supported']) && param('iss') !== ISSUER) {
        throw new RuntimeException('iss mismatch'); // RFC 9207: the answer comes from our provider (mix-up)
    }
    if (param('error') !== null) {
        throw new RuntimeException(param('error')); // e.g. access_denied: the person declined
    }
    $form = ['grant_type' => 'authorization_code', 'code' => param('code') ?? '', 'redirect_uri' => REDIRECT_URI,
             'code_verifier' => $pending['verifier']];
{%- if auth_method == "client_secret_post" %}
    $form += ['client_id' => CLIENT_ID, 'client_secret' => (string) getenv('SSO_CLIENT_SECRET')];
    $tokens = http($meta['token_endpoint'], [], $form);
{%- elif auth_method == "none" %}
    $tokens = http($meta['token_endpoint'], [], $form + ['client_id' => CLIENT_ID]); // a public client
{%- else %}
    // client_secret_basic: id and secret are form-encoded before Basic (RFC 6749 2.3.1); rawurlencode writes a
    // space as %20, which every server decodes (some leave a '+' as it is).
    $basic = base64_encode(rawurlencode(CLIENT_ID) . ':' . rawurlencode((string) getenv('SSO_CLIENT_SECRET')));
    $tokens = http($meta['token_endpoint'], ["Authorization: Basic $basic"], $form);
{%- endif %}
    if (!is_string($tokens['id_token'] ?? null) || !is_string($tokens['access_token'] ?? null)
            || strcasecmp((string) ($tokens['token_type'] ?? ''), 'Bearer') !== 0) {
        throw new RuntimeException('unexpected token response');
    }
    $claims = id_token_claims($tokens['id_token'], $pending['nonce'], $tokens['access_token']);
    $userinfo = http($meta['userinfo_endpoint'], ['Authorization: Bearer ' . $tokens['access_token']]);
    if (($userinfo['sub'] ?? null) !== $claims['sub']) { // OIDC Core 5.3.4: the same person as the ID token
        throw new RuntimeException('userinfo sub mismatch');
    }
    session_regenerate_id(true); // a new session id once signed in (session fixation)
    $_SESSION = array_merge($_SESSION, ['claims' => $claims, 'userinfo' => $userinfo,
                                        'id_token' => $tokens['id_token'], 'csrf' => b64url(random_bytes(32))]);
    redirect('/');
}

function logout(string $lang): never
{
    // A form with the session's token: another site cannot sign the person out (CSRF).
    if (!is_string($_SESSION['csrf'] ?? null) || !hash_equals($_SESSION['csrf'], param('csrf', $_POST) ?? '')) {
        redirect('/');
    }
    $id_token = $_SESSION['id_token'];
    $_SESSION = ['lang' => $lang];
    session_regenerate_id(true);
    // RP-Initiated Logout 1.0 section 2: end the provider's session too, then come back here.
    $endpoint = provider()['end_session_endpoint'];
    redirect($endpoint . (str_contains($endpoint, '?') ? '&' : '?') . http_build_query([
        'id_token_hint' => $id_token, 'post_logout_redirect_uri' => POST_LOGOUT_REDIRECT_URI, 'ui_locales' => $lang,
    ], '', '&', PHP_QUERY_RFC3986));
}

function page(string $lang, string $body, int $status = 200): never
{
    $t = TEXT[$lang];
    http_response_code($status);
    header('Content-Type: text/html; charset=utf-8');
    echo '<!doctype html><html lang="', $lang, '"><head><meta charset="utf-8"><title>', e($t['title']),
        '</title></head><body><p><a id="lang" href="/?lang=', $t['to'], '">', e($t['switch']), '</a></p><h1>',
        e($t['title']), '</h1>', $body, '</body></html>';
    exit;
}

// The session cookie: not readable by scripts, and SameSite=Lax so that it comes back with the provider's
// redirect (a top-level GET) but not with another site's POST. Its name differs from the provider's (cookies
// ignore ports, so both may live on 127.0.0.1 during development).
session_name('contoh_php');
session_start(['cookie_httponly' => true, 'cookie_samesite' => 'Lax', 'use_strict_mode' => true,
               'cookie_secure' => ($_SERVER['HTTPS'] ?? 'off') !== 'off']);
if (isset(TEXT[param('lang') ?? ''])) {
    $_SESSION['lang'] = param('lang');
}
$lang = $_SESSION['lang'] ?? 'id';
$t = TEXT[$lang];
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
try {
    if ($path === '/login') {
        login($lang);
    } elseif ($path === parse_url(REDIRECT_URI, PHP_URL_PATH)) {
        callback();
    } elseif ($path === '/logout' && $_SERVER['REQUEST_METHOD'] === 'POST') {
        logout($lang);
    } elseif ($path !== '/' && $path !== parse_url(POST_LOGOUT_REDIRECT_URI, PHP_URL_PATH)) {
        page($lang, '<p>404</p>', 404);
    }
} catch (Throwable $error) {
    error_log('SSO: ' . $error); // the detail for the log; the page names what failed, without internals
    $reason = $error instanceof RuntimeException ? $error->getMessage() : 'error';
    page($lang, '<p id="error">' . e($t['failed']) . ': <code>' . e($reason) . '</code></p>'
        . '<p><a id="login" href="/login">' . e($t['again']) . '</a></p>', 400);
}
if (isset($_SESSION['claims'])) { // signed in: "sub" is the person's key in your application
    $userinfo = json_encode($_SESSION['userinfo'], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    page($lang, '<p id="signed-in">' . e($t['signed_in'])
        . ' <strong id="name">' . e((string) ($_SESSION['userinfo']['name'] ?? '')) . '</strong>'
        . ' (<code id="sub">' . e($_SESSION['claims']['sub']) . '</code>)</p>'
        . '<pre id="userinfo">' . e($userinfo) . '</pre>'
        . '<form method="post" action="/logout"><input type="hidden" name="csrf" value="' . e($_SESSION['csrf']) . '">'
        . '<button id="logout">' . e($t['logout']) . '</button></form>');
}
page($lang, '<p><a id="login" href="/login">' . e($t['login']) . '</a></p>');
