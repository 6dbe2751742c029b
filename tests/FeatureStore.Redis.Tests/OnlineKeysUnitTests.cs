using FeatureStore.Core.Definitions;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>An entity key made of its group's prefix bytes and the entity's string is the key <see cref="OnlineKeys.Entity"/> builds.</summary>
public sealed class OnlineKeysUnitTests
{
    private static readonly CompiledRepository Compiled = CompiledRepository.Compile(
        FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "keys.yaml").Repository!);

    [Fact]
    public void A_key_from_the_prefix_bytes_and_the_entity_is_byte_for_byte_the_entity_key_on_random_and_awkward_entities()
    {
        var random = new Random(26);
        var entities = new List<string> { "u1", "", ":", "a|b", "{tag}x", "é€𝄞", "with space", new('z', 5000) };
        for (var i = 0; i < 500; i++)
        {
            var chars = new char[random.Next(0, 40)];
            for (var c = 0; c < chars.Length; c++)
            {
                // Any BMP character but surrogates, which alone are not text.
                chars[c] = (char)random.Next(1, 0xD800);
            }

            entities.Add(new string(chars));
        }

        foreach (var keys in new[] { new OnlineKeys("fs", "payments"), new OnlineKeys("préfixe:x", "p|q") })
        {
            foreach (var group in Compiled.Views.SelectMany(v => v.Groups))
            {
                var prefix = keys.EntityPrefix(group);
                foreach (var entity in entities)
                {
                    var built = ((RedisKey)entity).Prepend(prefix);
                    var expected = keys.Entity(group, entity);
                    Assert.Equal((byte[])expected!, (byte[])built!);
                    Assert.Equal((string?)expected, (string?)built);
                    Assert.Equal(expected, built);
                }
            }
        }
    }
}
