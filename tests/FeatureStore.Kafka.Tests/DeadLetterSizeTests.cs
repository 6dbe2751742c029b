using System.Text;
using Confluent.Kafka;
using FeatureStore.Kafka.DeadLetters;

namespace FeatureStore.Kafka.Tests;

public sealed class DeadLetterSizeTests
{
    [Fact]
    public void A_dead_letter_within_the_limit_is_sent_unchanged()
    {
        var message = Letter(key: 10, value: 300_000);
        Assert.Same(message, DeadLetterSize.Fit(message, DeadLetterSize.DefaultMaxRecordBytes));
    }

    [Fact]
    public void A_payload_over_the_limit_keeps_its_first_bytes_and_its_headers_with_its_size()
    {
        var message = Letter(key: 10, value: 1_100_000);
        var cut = DeadLetterSize.Fit(message, DeadLetterSize.DefaultMaxRecordBytes);
        Assert.Equal(message.Value.AsSpan(0, DeadLetterSize.KeptBytes).ToArray(), cut.Value);
        Assert.Equal(message.Key, cut.Key);
        Assert.Equal("payload_too_large", Encoding.UTF8.GetString(cut.Headers.GetLastBytes("fs-reason")));
        Assert.Equal("1100000", Encoding.UTF8.GetString(cut.Headers.GetLastBytes(DeadLetterSize.PayloadBytesHeader)));
        Assert.False(cut.Headers.TryGetLastBytes(DeadLetterSize.KeyBytesHeader, out _));
        Assert.False(DeadLetterSize.CanCut(cut));
        Assert.Single(message.Headers); // the original is left as it was
    }

    [Fact]
    public void A_key_over_the_limit_is_cut_too_and_a_raised_producer_limit_is_honoured()
    {
        var message = Letter(key: 600_000, value: 600_000);
        var cut = DeadLetterSize.Fit(message, DeadLetterSize.DefaultMaxRecordBytes);
        Assert.Equal(DeadLetterSize.KeptBytes, cut.Key!.Length);
        Assert.Equal("600000", Encoding.UTF8.GetString(cut.Headers.GetLastBytes(DeadLetterSize.KeyBytesHeader)));
        Assert.Same(message, DeadLetterSize.Fit(message, DeadLetterSize.MaxRecordBytes(new ProducerConfig { MessageMaxBytes = 3_000_000 })));
        Assert.Equal(DeadLetterSize.DefaultMaxRecordBytes, DeadLetterSize.MaxRecordBytes(new ProducerConfig()));
    }

    [Fact]
    public void A_header_quoting_the_payload_is_cut_too()
    {
        var message = Letter(key: 4, value: 10);
        message.Headers.Add("fs-detail", Enumerable.Repeat((byte)'d', 1_100_000).ToArray());
        var cut = DeadLetterSize.Fit(message, DeadLetterSize.DefaultMaxRecordBytes);
        Assert.Equal(DeadLetterSize.KeptBytes, cut.Headers.GetLastBytes("fs-detail").Length);
        Assert.Equal(message.Value, cut.Value);
        Assert.False(DeadLetterSize.CanCut(cut));
    }

    private static Message<byte[]?, byte[]?> Letter(int key, int value) => new()
    {
        Key = Enumerable.Repeat((byte)'k', key).ToArray(),
        Value = Enumerable.Repeat((byte)'v', value).ToArray(),
        Headers = new Headers { { "fs-reason", Encoding.UTF8.GetBytes("payload_too_large") } },
    };
}
