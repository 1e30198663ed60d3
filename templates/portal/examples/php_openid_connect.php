<?php
// Sign in with Banten SSO: plain PHP + jumbojett/openid-connect-php, the authorization code flow with PKCE (S256).
// composer require jumbojett/openid-connect-php; this file answers the login and the redirect URI.
require __DIR__ . '/vendor/autoload.php';

use Jumbojett\OpenIDConnectClient;

$issuer = {{ issuer | php }};
$oidc = new OpenIDConnectClient($issuer, {{ client_id | php }}, getenv('SSO_CLIENT_SECRET') ?: null);
$oidc->setRedirectURL({{ redirect_uri | php }});
$oidc->addScope({{ scope_list | php }});
$oidc->setCodeChallengeMethod('S256');
$oidc->authenticate(); // sends the person to sign in; back at the redirect URI it checks state, nonce and the ID token
header('Content-Type: application/json');
echo json_encode(['sub' => $oidc->getVerifiedClaims('sub'), 'name' => $oidc->requestUserInfo('name')]);
