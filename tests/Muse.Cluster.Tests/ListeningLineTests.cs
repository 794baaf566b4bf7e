namespace Muse.Cluster.Tests;

public sealed class ListeningLineTests
{
    [Theory]
    [InlineData("MUSE_LISTENING http://127.0.0.1:45123", "http://127.0.0.1:45123/")]
    [InlineData("MUSE_LISTENING http://127.0.0.1:45123/", "http://127.0.0.1:45123/")]
    [InlineData("  MUSE_LISTENING   https://[::1]:8443  \r", "https://[::1]:8443/")]
    [InlineData("MUSE_LISTENING http://localhost:5000 extra", "http://localhost:5000/")]
    public void TryParse_ListeningLine_ReturnsAddress(string line, string expected)
    {
        var parsed = ListeningLine.TryParse(line, out var url);

        Assert.True(parsed);
        Assert.Equal(new Uri(expected), url);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("MUSE_LISTENING")]
    [InlineData("MUSE_LISTENING ")]
    [InlineData("MUSE_LISTENING not-a-url")]
    [InlineData("MUSE_LISTENING ftp://127.0.0.1:21")]
    [InlineData("MUSE_LISTENING http://127.0.0.1:0")]
    [InlineData("MUSE_LISTENINGhttp://127.0.0.1:45123")]
    [InlineData("{\"message\":\"MUSE_LISTENING http://127.0.0.1:45123\"}")]
    [InlineData("info: Now listening on: http://127.0.0.1:45123")]
    public void TryParse_OtherLine_ReturnsFalse(string? line)
    {
        var parsed = ListeningLine.TryParse(line, out var url);

        Assert.False(parsed);
        Assert.Null(url);
    }

    [Fact]
    public void TryParse_WebLine_IsReadOnlyWithItsMarker()
    {
        const string line = "MUSE_WEB http://127.0.0.1:45124";

        Assert.True(ListeningLine.TryParse(line, ListeningLine.WebMarker, out var web));
        Assert.Equal(new Uri("http://127.0.0.1:45124/"), web);
        Assert.False(ListeningLine.TryParse(line, out _));   // never taken for the gRPC address
        Assert.False(ListeningLine.TryParse("MUSE_LISTENING http://127.0.0.1:45123", ListeningLine.WebMarker, out _));
    }

    [Fact]
    public void Format_Address_HasNoTrailingSlash()
    {
        var formatted = ListeningLine.Format(new Uri("http://127.0.0.1:45123/"));

        Assert.Equal("http://127.0.0.1:45123", formatted);
    }

    [Theory]
    [InlineData("http://0.0.0.0:5000/", "http://127.0.0.1:5000/")]
    [InlineData("https://[::]:8443/", "https://[::1]:8443/")]
    [InlineData("http://192.0.2.7:5000/", "http://192.0.2.7:5000/")]
    [InlineData("http://127.0.0.1:5000/", "http://127.0.0.1:5000/")]
    public void Reachable_WildcardHost_IsLoopback_OthersKept(string announced, string expected)
    {
        Assert.Equal(new Uri(expected), ListeningLine.Reachable(new Uri(announced)));
    }
}
