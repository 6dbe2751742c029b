using System.Security.Cryptography;
using System.Text;
using Grpc.Core;

namespace FeatureStore.Serving.Internal;

/// <summary>
/// Optional API keys: with none configured every call is let through; otherwise a call needs a known
/// key (UNAUTHENTICATED) and, for a key limited to some views, may read only those (PERMISSION_DENIED).
/// Reads need the key's read scope and pushes its write scope (<see cref="ApiKeyScopes"/>), so a key handed to
/// a model service cannot write features and a producer's key cannot read them.
/// </summary>
internal sealed class ApiKeyPolicy
{
    // Keys are kept and compared as SHA-256 digests: equal lengths, so the comparison time says nothing
    // about a key's length or its first differing byte, and every key is compared, whichever matches.
    private readonly (byte[] Digest, HashSet<string>? Views, ApiKeyScopes Scopes)[] _keys;

    public ApiKeyPolicy(IReadOnlyList<ApiKey> keys) =>
        _keys = [.. keys.Select(k => (SHA256.HashData(Encoding.UTF8.GetBytes(k.Key)), k.Views is null ? null : new HashSet<string>(k.Views, StringComparer.Ordinal), k.Scopes))];

    public bool Enabled => _keys.Length > 0;

    /// <summary>The views the key may read (null: all), or a throw when the key is missing or unknown, or may not read.</summary>
    public HashSet<string>? Authenticate(string? presented)
    {
        if (!Enabled)
        {
            return null;
        }

        var matched = Match(presented);
        return (_keys[matched].Scopes & ApiKeyScopes.Read) != 0 ? _keys[matched].Views
            : throw new LookupException(StatusCode.PermissionDenied, "this API key may only push events (scope write): reads need a key with the read scope");
    }

    /// <summary>Checks that the key may push events (its write scope), or throws.</summary>
    public void AuthenticateWrite(string? presented)
    {
        if (Enabled && (_keys[Match(presented)].Scopes & ApiKeyScopes.Write) == 0)
        {
            throw new LookupException(StatusCode.PermissionDenied, "this API key may not push events: pushing needs a key with the write scope (KEY@write or KEY@read+write)");
        }
    }

    private int Match(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            throw new LookupException(StatusCode.Unauthenticated, "an API key is required: send it in the x-api-key header");
        }

        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var matched = -1;
        for (var i = 0; i < _keys.Length; i++)
        {
            if (CryptographicOperations.FixedTimeEquals(_keys[i].Digest, digest))
            {
                matched = i;
            }
        }

        return matched >= 0 ? matched
            : throw new LookupException(StatusCode.Unauthenticated, "the API key is not valid");
    }

    public static void Authorize(HashSet<string>? allowed, string view)
    {
        if (allowed is not null && !allowed.Contains(view))
        {
            throw new LookupException(StatusCode.PermissionDenied, $"this API key may not read feature view '{view}'");
        }
    }

    /// <summary>The key of a call: <c>x-api-key</c>, else <c>authorization: Bearer KEY</c>.</summary>
    public static string? FromHeaders(string? apiKeyHeader, string? authorization) =>
        !string.IsNullOrEmpty(apiKeyHeader) ? apiKeyHeader
        : authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..].Trim()
        : null;
}
