using System.Security.Cryptography;
using FeatureStore.Redis;
using StackExchange.Redis;

namespace FeatureStore.Testing;

/// <summary>
/// What the stores hold, byte for byte, for tests that prove an operation changed nothing: every hash field under
/// a key prefix in the online store, every file of an offline store.
/// </summary>
public static class StoreSnapshots
{
    /// <summary>Each field of each hash under <paramref name="prefix"/> with a hash of its bytes, in order (expiries left out: they run down).</summary>
    public static async Task<List<string>> OnlineAsync(OnlineStoreConnection store, string prefix)
    {
        ArgumentNullException.ThrowIfNull(store);
        var server = store.Multiplexer.GetServer(store.Endpoint);
        var db = store.Database;
        var result = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: prefix + ":*"))
        {
            if (await db.KeyTypeAsync(key) != RedisType.Hash)
            {
                continue;
            }

            foreach (var entry in await db.HashGetAllAsync(key))
            {
                result.Add($"{key} {entry.Name} {Convert.ToHexString(SHA256.HashData((byte[])entry.Value!))}");
            }
        }

        result.Sort(StringComparer.Ordinal);
        return result;
    }

    /// <summary>Every file under <paramref name="folder"/> (relative path) with a hash of its bytes, in order.</summary>
    public static List<string> Files(string folder) =>
        [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(folder, f)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}")];
}
