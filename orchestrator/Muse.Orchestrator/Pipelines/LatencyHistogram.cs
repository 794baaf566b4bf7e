namespace Muse.Orchestrator.Pipelines;

/// <summary>
/// Latencies since start in logarithmic buckets 2^(1/16) apart (≈ 4.4 %), from 0.01 ms to about three hours: bounded
/// memory however many requests come, and quantiles within one bucket's width of the exact ones.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class LatencyHistogram
{
    private const double SmallestMilliseconds = 0.01;
    private const int BucketsPerDoubling = 16;
    private const int BucketCount = 30 * BucketsPerDoubling;
    private readonly Lock _gate = new();
    private readonly long[] _buckets = new long[BucketCount];
    private double _min = double.PositiveInfinity;
    private double _max;

    /// <summary>Latencies recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Records one latency in milliseconds; negative or NaN values are ignored.</summary>
    public void Record(double milliseconds)
    {
        if (!(milliseconds >= 0))
        {
            return;
        }

        var bucket = milliseconds <= SmallestMilliseconds ? 0 : (int)Math.Floor(Math.Log2(milliseconds / SmallestMilliseconds) * BucketsPerDoubling);
        lock (_gate)
        {
            _buckets[Math.Clamp(bucket, 0, BucketCount - 1)]++;
            _min = Math.Min(_min, milliseconds);
            _max = Math.Max(_max, milliseconds);
            Count++;
        }
    }

    /// <summary>
    /// The <paramref name="quantile"/> (0.5 = median) in milliseconds: the geometric middle of the bucket holding that
    /// rank, kept within the smallest and largest value seen; 0 when nothing was recorded.
    /// </summary>
    public double Quantile(double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quantile, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1);
        lock (_gate)
        {
            if (Count == 0)
            {
                return 0;
            }

            // Nearest rank: the smallest value with at least quantile·n values at or below it.
            var rank = Math.Max(1, (long)Math.Ceiling(quantile * Count));
            long seen = 0;
            for (var i = 0; i < BucketCount; i++)
            {
                seen += _buckets[i];
                if (seen >= rank)
                {
                    var middle = SmallestMilliseconds * Math.Pow(2, (i + 0.5) / BucketsPerDoubling);
                    return Math.Clamp(middle, _min, _max);
                }
            }

            return _max;
        }
    }
}
