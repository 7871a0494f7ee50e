// One player for the page: a play button puts its track's /audio/ID in
// it.  The page works without this script (each track's page has its own
// player); nothing here reads or sends anything else.
document.addEventListener('DOMContentLoaded', function () {
  var bar = document.getElementById('player-bar');
  var player = document.getElementById('player');
  var title = document.getElementById('now-playing');
  document.querySelectorAll('button.play').forEach(function (button) {
    button.addEventListener('click', function () {
      var src = button.getAttribute('data-src');
      if (player.getAttribute('src') === src && !player.paused) {
        player.pause();
        return;
      }
      document.querySelectorAll('button.play.playing').forEach(function (b) {
        b.classList.remove('playing');
      });
      button.classList.add('playing');
      player.setAttribute('src', src);
      title.textContent = button.getAttribute('data-title');
      bar.hidden = false;
      player.play();
    });
  });
});
