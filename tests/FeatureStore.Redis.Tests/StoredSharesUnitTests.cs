using FeatureStore.Redis.Online;
using StackExchange.Redis;

namespace FeatureStore.Redis.Tests;

/// <summary>Keys read again after their raw read failed (a redirect on Redis Cluster) are walked like the others.</summary>
public sealed class StoredSharesUnitTests
{
    [Fact]
    public void Keys_read_again_give_their_shares_in_order_can_be_skipped_and_read_twice()
    {
        byte[][]?[] values = [[[1, 2], [3]], [], [[4, 5, 6]]];
        using var shares = StoredShares.Of(new RespResult?[3], values);
        var reader = shares.Reader();

        Assert.Equal(2, reader.NextKey());
        var mark = reader.Mark();
        Assert.Equal([1, 2], reader.NextShare().ToArray());
        Assert.Equal([3], reader.NextShare().ToArray());
        Assert.Equal([1, 2], mark.NextShare().ToArray());

        reader.SkipKey();
        Assert.Equal(1, reader.NextKey());
        Assert.Equal([4, 5, 6], reader.NextShare().ToArray());
        Assert.Throws<InvalidOperationException>(() => shares.Reader().ReadPastTheLastOfThree());
    }

    [Fact]
    public void A_key_with_neither_a_reply_nor_values_is_refused() =>
        Assert.Throws<ArgumentException>(() => StoredShares.Of(new RespResult?[2], [[[1]], null]));
}

file static class ReaderSteps
{
    /// <summary>Steps over three keys and on to a fourth (a ref struct cannot be captured by the lambda that asserts the throw).</summary>
    public static void ReadPastTheLastOfThree(this ShareReader reader)
    {
        reader.SkipKey();
        reader.SkipKey();
        reader.SkipKey();
        reader.NextKey();
    }
}
